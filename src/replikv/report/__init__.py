"""replikv.report"""
