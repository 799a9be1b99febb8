"""Deliberately broken variants of the schemes, to prove the checkers catch real bugs.

Never registered for users: ``replikv.testing.planted.register_planted`` adds them to a
scheme registry only when ``REPLIKV_PLANTED_BUGS=1`` is set.
"""
