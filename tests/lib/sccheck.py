"""The ok/FAIL lines of the client's test scripts: check() prints one line
per expectation and remembers the failures for the exit status."""

failures = []


def check(cond, what, output=""):
    if cond:
        print("ok   " + what)
    else:
        print("FAIL " + what + ("\n---- output:\n" + output if output else ""))
        failures.append(what)
