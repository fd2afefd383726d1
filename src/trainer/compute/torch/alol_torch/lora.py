"""LoRA adapters as PEFT lays them out (src/trainer/model/lora.ts): each adapted projection computes
y = W x + b + (alpha / r) * B(A(dropout(x))) with A [r, in] and B [out, r], also for GPT-2's Conv1D whose W is
[in, out] (PEFT's fan_in_fan_out). Adapter names are the module path plus '.lora_A.weight' / '.lora_B.weight'.
peft does it when the model is transformers' and peft is installed; otherwise a small wrapper module here.
The base weights are frozen; the adapters are float32 parameters (as get_peft_model's autocast_adapter_dtype
makes them for half-precision bases)."""
import torch
import torch.nn as nn


class LoraAdapter:
    """One adapted module: its A and B parameters, the scale alpha / r and the base weight's orientation."""

    def __init__(self, a, b, scale, conv1d):
        self.a, self.b, self.scale, self.conv1d = a, b, scale, conv1d

    def delta(self):
        """The adapter as a change of the base weight, in the base's orientation ([out, in]; Conv1D [in, out])."""
        d = self.scale * (self.b.detach().float() @ self.a.detach().float())
        return d.t() if self.conv1d else d


class LoraWrapper(nn.Module):
    """base(x) + scale * lora_B(lora_A(dropout(x))) in place of a projection module (nn.Linear or a Conv1D)."""

    def __init__(self, base, r, scale, dropout):
        super().__init__()
        n_in, n_out = _dims(base)
        self.base_layer = base
        self.lora_dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        w = base.weight
        self.lora_A = nn.Linear(n_in, r, bias=False).to(device=w.device, dtype=torch.float32)
        self.lora_B = nn.Linear(r, n_out, bias=False).to(device=w.device, dtype=torch.float32)
        self.scale = scale
        self.enabled = True  # adapters_off() turns it off: the base alone

    def forward(self, x):
        y = self.base_layer(x)
        if not self.enabled:
            return y
        delta = self.lora_B(self.lora_A(self.lora_dropout(x.to(self.lora_A.weight.dtype))))
        return (y + self.scale * delta).to(y.dtype)


def _is_conv1d(module):
    return type(module).__name__ == 'Conv1D'  # transformers' and models.py's: weight [in, out]


def _dims(module):
    """(in, out) of a projection module."""
    w = getattr(module, 'weight', None)
    if w is None or w.dim() != 2:
        raise ValueError(f'LoRA: {type(module).__name__} is not a projection with a 2-d weight')
    return (w.shape[0], w.shape[1]) if _is_conv1d(module) else (w.shape[1], w.shape[0])


def add_lora(lm, modules, r, alpha, dropout, init):
    """Freezes the base and adds adapters to `modules` (full paths); copies init['<path>.lora_A.weight'] and
    init['<path>.lora_B.weight'] into them. Returns the adapter parameters by those names."""
    if lm.lora:
        raise ValueError('add_lora: the model already has LoRA adapters')
    if not isinstance(r, int) or r < 1:
        raise ValueError(f'add_lora: r must be a positive integer (got {r!r})')
    if not 0 <= dropout < 1:
        raise ValueError(f'add_lora: dropout must be in [0, 1) (got {dropout!r})')
    named = dict(lm.module.named_modules())
    for path in modules:
        if path not in named:
            raise ValueError(f'add_lora: module {path} is not in the model')
        n_in, n_out = _dims(named[path])
        for name, shape in ((f'{path}.lora_A.weight', (r, n_in)), (f'{path}.lora_B.weight', (n_out, r))):
            if name not in init:
                raise ValueError(f'add_lora: init lacks {name}')
            if tuple(init[name].shape) != shape:
                raise ValueError(f'add_lora: init {name} has shape {list(init[name].shape)}, expected {list(shape)}')
    for p in lm.named_params().values():
        p.requires_grad_(False)
    scale = alpha / r
    if lm.engine == 'transformers' and _peft_available():
        adapters = _add_peft(lm, modules, r, alpha, dropout)
    else:
        adapters = _add_wrappers(lm, named, modules, r, scale, dropout)
    out = {}
    with torch.no_grad():
        for path, (a, b) in adapters.items():
            a.copy_(init[f'{path}.lora_A.weight'])
            b.copy_(init[f'{path}.lora_B.weight'])
            a.requires_grad_(True)
            b.requires_grad_(True)
            lm.lora[path] = LoraAdapter(a, b, scale, _is_conv1d(named[path]))
            out[f'{path}.lora_A.weight'] = a
            out[f'{path}.lora_B.weight'] = b
    return out


def _peft_available():
    try:
        import peft  # noqa: F401
        return True
    except ImportError:
        return False


def _add_wrappers(lm, named, modules, r, scale, dropout):
    adapters = {}
    for path in modules:
        parent_path, _, child = path.rpartition('.')
        wrapper = LoraWrapper(named[path], r, scale, dropout)
        setattr(named[parent_path] if parent_path else lm.module, child, wrapper)
        adapters[path] = (wrapper.lora_A.weight, wrapper.lora_B.weight)
    return adapters


def _add_peft(lm, modules, r, alpha, dropout):
    from peft import LoraConfig, get_peft_model
    conv1d = any(_is_conv1d(m) for p, m in lm.module.named_modules() if p in modules)
    config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(modules), bias='none',
                        fan_in_fan_out=conv1d)
    # get_peft_model changes lm.module in place (its projections become LoRA layers); lm.module stays the model.
    lm.peft = get_peft_model(lm.module, config)
    params = {}
    for name, p in lm.peft.named_parameters():
        if '.lora_' in name:  # base_model.model.<path>.lora_A.default.weight
            path, _, rest = name[len('base_model.model.'):].rpartition('.lora_')
            params.setdefault(path, {})[rest[0]] = p
    missing = [m for m in modules if set(params.get(m, {})) != {'A', 'B'}]
    if missing:
        raise ValueError(f'add_lora: peft did not adapt {", ".join(missing)}')
    return {m: (params[m]['A'], params[m]['B']) for m in modules}


class adapters_off:
    """Within it, the model computes as its base: every adapter is off (the reference policy of a LoRA trainer that
    shares the reference's weights)."""

    def __init__(self, lm):
        self.lm = lm
        self.peft_ctx = None

    def __enter__(self):
        if self.lm.peft is not None:
            self.peft_ctx = self.lm.peft.disable_adapter()
            self.peft_ctx.__enter__()
        for m in self.lm.module.modules():
            if isinstance(m, LoraWrapper):
                m.enabled = False
        return self.lm

    def __exit__(self, *exc):
        for m in self.lm.module.modules():
            if isinstance(m, LoraWrapper):
                m.enabled = True
        if self.peft_ctx is not None:
            self.peft_ctx.__exit__(*exc)
        return False


def remove_lora(lm):
    """Takes the adapters out again: the model is its base, as it was before add_lora (the trainer that shared it
    has ended)."""
    if lm.peft is not None:
        lm.peft.unload()  # replaces the LoRA layers by their base layers, in place (lm.module stays the model)
        lm.peft = None
    named = dict(lm.module.named_modules())
    for path, m in list(named.items()):
        if isinstance(m, LoraWrapper):
            parent_path, _, child = path.rpartition('.')
            setattr(named[parent_path] if parent_path else lm.module, child, m.base_layer)
    lm.lora = {}


def merged_weights(lm):
    """The base weights by their Hugging Face names with every adapter folded in (W + scale * B A), for saving."""
    out = {name: p.detach().clone() for name, p in lm.named_params().items()}
    for path, ad in lm.lora.items():
        w = out[f'{path}.weight']
        out[f'{path}.weight'] = (w.float() + ad.delta()).to(w.dtype)
    return out
