"""Token premiums across languages and information-theoretic tokenizer metrics.

```python
from toksmith.analysis import compute_premium, analyze, render_premium, read_segments
rep = compute_premium(["cl100k_base", "gpt2", "bytes"], corpus="flores200", ref="eng_Latn")
print(render_premium(rep, "md"))
a = analyze(["cl100k_base", "bytes"], read_segments(["text.txt"]))
```
Numpy is needed (`pip install 'toksmith[analysis]'`; plotly for the HTML report).
"""

from toksmith.analysis.corpus import ParallelCorpus, open_parallel, read_segments
from toksmith.analysis.metrics import AnalysisReport, analyze
from toksmith.analysis.premium import PremiumReport, compute_premium, load_prices
from toksmith.analysis.report import render_analysis, render_premium
from toksmith.analysis.tokenizers import LoadedTokenizer, TokenizerSpec, load, load_all

__all__ = [
    "AnalysisReport",
    "LoadedTokenizer",
    "ParallelCorpus",
    "PremiumReport",
    "TokenizerSpec",
    "analyze",
    "compute_premium",
    "load",
    "load_all",
    "load_prices",
    "open_parallel",
    "read_segments",
    "render_analysis",
    "render_premium",
]
