"""Kill-tests of mutation part 3 (tests/MUTATION.md): apply's confirmation and run, the session, the commands."""
