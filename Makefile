# Convenience targets; each is the same command as in the README.
.PHONY: drill test bench evaluate layer-requirements
drill:
	python3 tasks.py drill
test:
	python3 tasks.py test
bench:
	python3 tasks.py bench
layer-requirements:
	python3 tasks.py layer-requirements
evaluate:
	python3 tasks.py evaluate
