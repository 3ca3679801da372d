"""After a statement: its measured effect and recommendation, closing alerts with lessons, the post-crisis report."""
