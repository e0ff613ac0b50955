from lvsmon.cli import main

main(prog_name="lvsmon")
