"""raftkube.lab"""
