"""The report: a notebook source (``normalizing_flows.py``, jupytext percent format), executed
with nbclient and exported to HTML by :func:`innlab.report.build.build_report`."""
