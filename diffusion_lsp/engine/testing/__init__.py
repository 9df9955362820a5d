"""Test doubles and tiny checkpoints: a fake engine for the server's tests, an oracle denoiser with
known answers, and tiny random checkpoints of both families for plumbing tests and demos."""
