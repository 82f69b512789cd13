"""Infrastructure as code: every stateful resource of a stage (``template.py``), what only AWS gets on top
(``aws.py``, ``observe.py``, ``encryption.py``), the packaging (``package.py``) and the security scan."""
