"""The domain of msgkit: pure functions and immutable values, no I/O, no clock reads.

Everything that decides who gets what, when, at which length and cost, and in which
state lives here and takes ``now`` as an argument, so it can be tested with hypothesis
and run on many workers alike. Nothing here imports the other layers of msgkit.
"""
