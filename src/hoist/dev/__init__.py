"""The dev loop: watch, build, push, render, deploy, verify."""
