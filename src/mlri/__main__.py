from mlri.cli import main

main()
