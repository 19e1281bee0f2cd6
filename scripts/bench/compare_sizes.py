#!/usr/bin/env python3
"""Compares two runs of scripts/bench/sizes.sh: geomean, best and worst change per target (-v: every cell)."""
import sys
def load(p):
    d={}
    for l in open(p):
        a=l.split()
        if len(a)==3 and a[2]!='FAIL': d[(a[0],a[1])]=int(a[2])
    return d
a=load(sys.argv[1]); b=load(sys.argv[2])
import math
tot={}
for k in sorted(a):
    if k in b:
        r=b[k]/a[k]
        tot.setdefault(k[1],[]).append(math.log(r))
        if '-v' in sys.argv: print(f"{k[0][:28]:28} {k[1]} {a[k]:9} {b[k]:9} {100*(r-1):+6.2f}%")
for t,v in sorted(tot.items(), reverse=True):
    print(t, f"geomean {100*(math.exp(sum(v)/len(v))-1):+.2f}%  min {100*(math.exp(min(v))-1):+.2f}% max {100*(math.exp(max(v))-1):+.2f}% n={len(v)}")
