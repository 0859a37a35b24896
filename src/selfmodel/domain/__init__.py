"""Pure domain code: beliefs, evidence, confidence math, policy. No I/O."""
