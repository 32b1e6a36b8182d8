"""raftkube.remote"""
