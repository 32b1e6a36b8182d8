"""raftkube.client"""
