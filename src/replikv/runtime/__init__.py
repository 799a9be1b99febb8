"""replikv.runtime"""
