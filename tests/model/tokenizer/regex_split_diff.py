#!/usr/bin/env python3
"""Differential check of the tokenizer's regex splitting (RE2 + emulated look-ahead, model/tokenizer/pretokenizer.cpp)
against Python's backtracking `re`, which supports `\s+(?!\S)` natively. \p{L}, \p{N} and Oniguruma's Unicode \s
are spelled out as explicit classes. Inputs: MATH-500 problems and solutions plus random strings over a pool of
tricky characters (Unicode spaces, case-folding letters, digits of other scripts, emoji). Usage:
  regex_split_diff.py TOOL SHARED_DIR     (TOOL = the regex_split_tool binary). Exit status 1 on any mismatch."""
import os, re, sys, json, random, subprocess, unicodedata
def ranges(pred):
    out=[]; start=None
    for cp in range(0x110000):
        ok=pred(cp)
        if ok and start is None: start=cp
        if not ok and start is not None: out.append((start,cp-1)); start=None
    if start is not None: out.append((start,0x10FFFF))
    return ''.join(('\\U%08x'%a) if a==b else ('\\U%08x-\\U%08x'%(a,b)) for a,b in out)
L=ranges(lambda c: unicodedata.category(chr(c)).startswith('L'))
N=ranges(lambda c: unicodedata.category(chr(c)).startswith('N'))
WS=[0x9,0xA,0xB,0xC,0xD,0x20,0x85,0xA0,0x1680]+list(range(0x2000,0x200B))+[0x2028,0x2029,0x202F,0x205F,0x3000]
S=''.join('\\U%08x'%c for c in WS)
pats={'qwen':r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
      'llama':r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+",
      'gpt2':r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"}
def topy(p):
    # translate for python re: classes inline
    q=p.replace(r'[^\r\n\p{L}\p{N}]', '[^\\r\\n'+L+N+']').replace(r'[^\s\p{L}\p{N}]','[^'+S+L+N+']')
    q=q.replace(r'\p{L}','['+L+']').replace(r'\p{N}','['+N+']').replace(r'\S','[^'+S+']').replace(r'\s','['+S+']')
    return re.compile(q)
texts=[]
for l in open((os.environ.get('REVAL_SHARED') or sys.argv[2]) + '/data/math500/test.jsonl'):
    d=json.loads(l); texts.append(d['problem']); texts.append(d['solution'])
pool=list("aZ7 \t\n\r'sSLlMmDdtT.,;:!?-_()[]{}$\\^") + ['\u00a0','\u3000','\u2009','\u0085','\x0b','\x0c','é','ß','数','😀','Ⅻ','٣','\u200b','\u1680','ſ','İ','K']
random.seed(1)
for _ in range(3000):
    texts.append(''.join(random.choice(pool) for _ in range(random.randint(0,30))))
bad=0
for name,p in pats.items():
    py=topy(p)
    inp='\n'.join([p.encode().hex()]+[t.encode().hex() for t in texts])+'\n'
    out=subprocess.run([sys.argv[1]],input=inp.encode(),capture_output=True).stdout.decode().split('\n')
    nb=0
    for t,o in zip(texts,out):
        mine=[bytes.fromhex(x).decode() for x in o.split(',')] if o else []
        ref=py.findall(t)
        if mine!=ref:
            nb+=1
            if nb<=3: print(name, repr(t[:80]), '\n mine', mine[:12], '\n ref ', ref[:12])
    print(name, 'mismatches', nb, 'of', len(texts)); bad+=nb
sys.exit(1 if bad else 0)
