"""replikv.storage"""
