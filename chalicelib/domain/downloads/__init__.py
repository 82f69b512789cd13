"""Getting a fix: the click on an emailed link with the entitlement checked at that moment (``clicks``), a fresh link
for an expired one (``fresh_links``), and the catalogue of fixes an account may download now (``catalog``).

Uses: ``core``, ``access``, ``mail``.
"""
