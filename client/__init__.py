"""zats.client"""
