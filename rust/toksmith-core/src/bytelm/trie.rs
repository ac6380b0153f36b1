//! A byte trie over the token strings, laid out so that every node's subtree is a contiguous range of
//! tokens in lexicographic (byte) order. Next-byte masses are then range sums over a per-state array.

/// Marker for "no node" / "no token".
pub const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct Node {
    /// Tokens whose bytes start with this node's prefix are `lex[lo..hi]`.
    lo: u32,
    hi: u32,
    /// Children are `edges[first..first + n]`, sorted by byte.
    first: u32,
    n: u32,
    /// Token whose bytes equal this prefix (then it sits at `lex[lo]`), or `NONE`.
    token: u32,
}

/// Trie of token byte strings. Node 0 is the root (the empty prefix).
#[derive(Clone, Debug)]
pub struct TokenTrie {
    nodes: Vec<Node>,
    edges: Vec<(u8, u32)>,
    /// Lexicographic position → token id.
    lex: Vec<u32>,
    /// Token id → lexicographic position, `NONE` for ids not in the trie.
    pos: Vec<u32>,
}

impl TokenTrie {
    /// Build from `(id, bytes)` pairs (ids unique, bytes non-empty and distinct). `n_ids` bounds the ids.
    pub fn new(tokens: &[(u32, &[u8])], n_ids: usize) -> TokenTrie {
        let mut order: Vec<usize> = (0..tokens.len()).collect();
        order.sort_unstable_by(|&a, &b| tokens[a].1.cmp(tokens[b].1));
        let lex: Vec<u32> = order.iter().map(|&i| tokens[i].0).collect();
        let mut pos = vec![NONE; n_ids];
        for (p, &id) in lex.iter().enumerate() {
            pos[id as usize] = p as u32;
        }
        let bytes: Vec<&[u8]> = order.iter().map(|&i| tokens[i].1).collect();
        let mut t = TokenTrie {
            nodes: Vec::with_capacity(tokens.len() * 2),
            edges: Vec::with_capacity(tokens.len() * 2),
            lex,
            pos,
        };
        // Breadth-first: each queue entry is (node index, depth); a node's range is known when it is made.
        t.nodes.push(Node {
            lo: 0,
            hi: bytes.len() as u32,
            first: 0,
            n: 0,
            token: NONE,
        });
        let mut queue = std::collections::VecDeque::new();
        queue.push_back((0usize, 0usize));
        while let Some((ni, depth)) = queue.pop_front() {
            let (mut lo, hi) = (t.nodes[ni].lo as usize, t.nodes[ni].hi as usize);
            if lo < hi && bytes[lo].len() == depth {
                t.nodes[ni].token = t.lex[lo];
                lo += 1;
            }
            let first = t.edges.len() as u32;
            let mut i = lo;
            while i < hi {
                let b = bytes[i][depth];
                let mut j = i + 1;
                while j < hi && bytes[j][depth] == b {
                    j += 1;
                }
                let child = t.nodes.len() as u32;
                t.nodes.push(Node {
                    lo: i as u32,
                    hi: j as u32,
                    first: 0,
                    n: 0,
                    token: NONE,
                });
                t.edges.push((b, child));
                queue.push_back((child as usize, depth + 1));
                i = j;
            }
            t.nodes[ni].first = first;
            t.nodes[ni].n = t.edges.len() as u32 - first;
        }
        t
    }

    pub const ROOT: u32 = 0;

    /// Number of tokens in the trie.
    pub fn len(&self) -> usize {
        self.lex.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lex.is_empty()
    }

    pub fn n_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// The child of `node` along byte `b`.
    #[inline]
    pub fn child(&self, node: u32, b: u8) -> Option<u32> {
        let n = &self.nodes[node as usize];
        let e = &self.edges[n.first as usize..(n.first + n.n) as usize];
        if e.len() == 256 {
            return Some(e[b as usize].1);
        }
        e.binary_search_by_key(&b, |&(c, _)| c).ok().map(|i| e[i].1)
    }

    /// `(byte, child)` pairs of `node`, sorted by byte.
    #[inline]
    pub fn children(&self, node: u32) -> &[(u8, u32)] {
        let n = &self.nodes[node as usize];
        &self.edges[n.first as usize..(n.first + n.n) as usize]
    }

    /// Lexicographic range of the tokens under `node` (the node's own token included, at `lo`).
    #[inline]
    pub fn range(&self, node: u32) -> (usize, usize) {
        let n = &self.nodes[node as usize];
        (n.lo as usize, n.hi as usize)
    }

    /// The token whose bytes equal `node`'s prefix.
    #[inline]
    pub fn token(&self, node: u32) -> Option<u32> {
        let t = self.nodes[node as usize].token;
        (t != NONE).then_some(t)
    }

    /// Node of a byte string, if it is a prefix of some token.
    pub fn find(&self, bytes: &[u8]) -> Option<u32> {
        let mut n = Self::ROOT;
        for &b in bytes {
            n = self.child(n, b)?;
        }
        Some(n)
    }

    /// Token id at lexicographic position `p`.
    #[inline]
    pub fn id_at(&self, p: usize) -> u32 {
        self.lex[p]
    }

    /// Lexicographic position of token `id` (`None` if not in the trie).
    #[inline]
    pub fn pos_of(&self, id: u32) -> Option<usize> {
        match self.pos.get(id as usize) {
            Some(&p) if p != NONE => Some(p as usize),
            _ => None,
        }
    }

    /// Token ids in lexicographic order.
    pub fn lex_ids(&self) -> &[u32] {
        &self.lex
    }
}
