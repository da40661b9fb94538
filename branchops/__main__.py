from branchops.cli import main

main()
