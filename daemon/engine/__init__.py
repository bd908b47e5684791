"""The engine: one reconcile of the targets it is given. Observe through the drivers, plan
with the pure core, apply in the planner's order, wait, judge the health gates, record the
outcome in the audit trail.

Above the drivers and adapters; run by the controller (one target at a time) and by the
CLI's ``apply``.
"""
