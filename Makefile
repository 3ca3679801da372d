# Convenience targets; each is the same command as in the README.
.PHONY: drill test bench lint layer-requirements serve
drill:
	python3 tasks.py drill
test:
	python3 tasks.py test
bench:
	python3 tasks.py bench
layer-requirements:
	python3 tasks.py layer-requirements
