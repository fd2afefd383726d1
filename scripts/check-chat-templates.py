#!/usr/bin/env python3
"""Renders the chat templates of test/unit/chat-template.test.ts with Python's Jinja2, configured as
transformers' apply_chat_template configures it (ImmutableSandboxedEnvironment, trim_blocks,
lstrip_blocks, raise_exception, strftime_now), and checks the strings the test expects from
@huggingface/jinja against it: an independent implementation of the same templates.

    python3 scripts/check-chat-templates.py      # Debian's python3-jinja2 (or pip's Jinja2)

Prints each case and exits 1 on a difference.
"""
import json
import re
import sys
from datetime import datetime
from pathlib import Path

from jinja2 import TemplateError
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEST = Path(__file__).resolve().parent.parent / "test" / "unit" / "chat-template.test.ts"
SOURCE = TEST.read_text(encoding="utf-8")
NOW = datetime(2024, 7, 26, 9, 5, 3)  # the test's JULY_26


def template(name: str) -> str:
    m = re.search(r"const " + name + r" = String\.raw`(.*?)`;", SOURCE, re.S)
    if not m:
        sys.exit(f"{TEST}: no String.raw template named {name}")
    return m.group(1)


def raise_exception(message):
    raise TemplateError(message)


env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
env.globals["raise_exception"] = raise_exception
env.globals["strftime_now"] = lambda fmt: NOW.strftime(fmt)

HH = [
    {"role": "user", "content": "Hi there"},
    {"role": "assistant", "content": "Hello!"},
    {"role": "user", "content": "How are you?"},
]
CASES = [
    ("LLAMA3", HH, dict(add_generation_prompt=True, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>"),
     "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
     "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
     "<|start_header_id|>assistant<|end_header_id|>\n\nHello!<|eot_id|>"
     "<|start_header_id|>user<|end_header_id|>\n\nHow are you?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("LLAMA3", [{"role": "system", "content": " Be brief. "}, {"role": "user", "content": "x"}],
     dict(add_generation_prompt=False, bos_token="<B>", eos_token=""),
     "<B><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n"
     "Be brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nx<|eot_id|>"),
    ("CHATML", HH, dict(add_generation_prompt=True, bos_token="", eos_token="<|im_end|>"),
     "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi there<|im_end|>\n"
     "<|im_start|>assistant\nHello!<|im_end|>\n<|im_start|>user\nHow are you?<|im_end|>\n<|im_start|>assistant\n"),
]

failed = False
for name, messages, context, expected in CASES:
    got = env.from_string(template(name)).render(messages=messages, **context)
    ok = got == expected
    failed |= not ok
    print(f"{name}: {'same' if ok else 'DIFFERENT'}: {json.dumps(got)}")
try:
    env.from_string(template("LLAMA3")).render(
        messages=[{"role": "user", "content": "a"}, {"role": "system", "content": "b"}], add_generation_prompt=True)
    print("LLAMA3 with a late system message: did not raise")
    failed = True
except TemplateError as e:
    print(f"LLAMA3 with a late system message: raised {e}")
date = NOW.strftime("%A %d %B %Y, %H:%M:%S (%y-%m, day %j) 100%%")
print(f"strftime: {date}")
failed |= date != "Friday 26 July 2024, 09:05:03 (24-07, day 208) 100%"
sys.exit(1 if failed else 0)
