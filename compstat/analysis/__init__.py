"""Analysis: measure values, the period table, significance, SPC, peers, trajectories and ranked findings."""
