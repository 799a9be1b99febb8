"""replikv.check"""
