from toksmith.cli import main

main()
