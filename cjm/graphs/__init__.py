"""The touchpoint transition graphs: customer segments and their transitions (segments), node
metrics and cycles (metrics), exported files (exports), changes across runs (changes), and the
two run stages that build them (stages)."""
