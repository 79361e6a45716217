module github.com/luamockit/luamockit

go 1.23

require github.com/aarzilli/golua v0.0.0-20250217091409-248753f411c4
