"""zats.protocol"""
