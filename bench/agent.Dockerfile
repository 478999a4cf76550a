# The fixture agent with a label of its own, so the bench can tell its
# containers from those of anyone else on the same engine.
FROM mercury-test-agent:latest
LABEL mercury.bench=true
