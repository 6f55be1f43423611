from deletedcalls.cli import main

main()
