from secpipe.cli import main

main()
