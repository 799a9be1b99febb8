"""replikv.sim"""
