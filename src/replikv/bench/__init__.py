"""replikv.bench"""
