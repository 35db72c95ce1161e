"""The reliability suite: hostile peers, exhaustion, scale and endurance
(``python -m pytest -m reliability``); docs/reliability.md lists what each
test proves and the figures of its last run."""
