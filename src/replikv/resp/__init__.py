"""replikv.resp"""
