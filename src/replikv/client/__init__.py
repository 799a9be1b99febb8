"""replikv.client"""
