"""Measure and show: ping / iperf3 / command runners, results, plots and reports.

The last stage of the pipeline; it reads link series and run directories
and never imports from a later stage (there is none).
"""
