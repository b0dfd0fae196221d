"""zats.broker"""
