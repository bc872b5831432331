"""Random slim networks for the property tests: convolutions of every kind with random kernels, strides,
paddings, rates and activations, eval-mode batch norm, pools, bias_add, residual adds, channel concats
and one of several heads, in NHWC or NCHW."""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import strategies as st

import slimir as slim

ACTS = {
    "none": None,
    "relu": slim.nn.relu,
    "relu6": slim.nn.relu6,
    "leaky_relu": lambda t: slim.nn.leaky_relu(t, 0.1),
    "sigmoid": slim.nn.sigmoid,
    "tanh": slim.nn.tanh,
}

LAYERS = (
    "conv",
    "depthwise",
    "separable",
    "transpose",
    "pool",
    "bias_add",
    "residual",
    "concat",
    "act",
    "bn",
)
HEADS = ("none", "mean", "mean_squeeze", "flatten_fc", "conv_squeeze", "fc_bn")


@dataclass
class Net:
    """A built random network: its input placeholder, outputs, the input's NHWC shape and a description."""

    x: object
    outputs: list
    shape: tuple
    data_format: str
    log: list = field(default_factory=list)


def _hw(t, df):
    s = t.shape
    return (s[2], s[3]) if df == "NCHW" else (s[1], s[2])


def _ch(t, df):
    return t.shape[1] if df == "NCHW" else t.shape[3]


def _bn_params(draw, df):
    return {
        "is_training": False,
        "scale": draw(st.booleans()),
        "center": draw(st.booleans()),
        "data_format": df,
    }


def _conv_kwargs(draw, t, df, allow_rate=True):
    """Kernel, stride, padding and rate that fit the spatial size of `t`."""
    h, w = _hw(t, df)
    k = draw(st.sampled_from([1, 2, 3]))
    pad = draw(st.sampled_from(["SAME", "VALID"]))
    stride, rate = 1, 1
    if draw(st.booleans()):
        stride = draw(st.sampled_from([1, 2]))
    elif allow_rate and k > 1:
        rate = draw(st.sampled_from([1, 2]))
    eff = (k - 1) * rate + 1
    if pad == "VALID" and eff > min(h, w):
        pad = "SAME"
    return {"kernel_size": [k, k], "stride": stride, "padding": pad, "rate": rate}


def _norm_act(draw, df):
    act = draw(st.sampled_from(sorted(ACTS)))
    kw = {"activation_fn": ACTS[act], "data_format": df}
    tail = draw(st.sampled_from(["bias", "bn", "none"]))
    if tail == "bn":
        kw.update(normalizer_fn=slim.batch_norm, normalizer_params=_bn_params(draw, df))
    elif tail == "none":
        kw["biases_initializer"] = None
    return kw, f"{tail}+{act}"


def build_net(draw, with_side_output=True) -> Net:
    """Build a random network in the default graph (call inside `with slim.Graph().as_default()`)."""
    df = draw(st.sampled_from(["NHWC", "NCHW"]))
    n = draw(st.sampled_from([None, 1, 2]))
    h = draw(st.integers(3, 10))
    w = draw(st.integers(3, 10))
    c = draw(st.integers(1, 4))
    shape = (n, h, w, c)
    pshape = [n, c, h, w] if df == "NCHW" else [n, h, w, c]
    x = slim.placeholder(slim.float32, pshape, name="x")
    net = x
    log = [f"{df} input {pshape}"]
    outputs = []
    n_layers = draw(st.integers(1, 5))
    for i in range(n_layers):
        kind = draw(st.sampled_from(LAYERS))
        sc = f"l{i}_{kind}"
        cin = _ch(net, df)
        if kind == "conv":
            kw, tail = _norm_act(draw, df)
            kw.update(_conv_kwargs(draw, net, df))
            nout = draw(st.integers(1, 6))
            net = slim.conv2d(net, nout, scope=sc, **kw)
            log.append(
                f"{sc} {nout} {kw['kernel_size']} s{kw['stride']} r{kw['rate']} {kw['padding']} {tail}"
            )
        elif kind in ("depthwise", "separable"):
            kw, tail = _norm_act(draw, df)
            kw.update(_conv_kwargs(draw, net, df))
            nout = draw(st.integers(1, 6)) if kind == "separable" else None
            dm = draw(st.integers(1, 2))
            net = slim.separable_conv2d(net, nout, depth_multiplier=dm, scope=sc, **kw)
            log.append(
                f"{sc} {nout} dm{dm} {kw['kernel_size']} s{kw['stride']} r{kw['rate']} {kw['padding']} {tail}"
            )
        elif kind == "transpose":
            kw, tail = _norm_act(draw, df)
            k = draw(st.sampled_from([1, 2, 3]))
            s = draw(st.sampled_from([1, 2]))
            pad = draw(st.sampled_from(["SAME", "VALID"]))
            nout = draw(st.integers(1, 4))
            net = slim.conv2d_transpose(net, nout, [k, k], stride=s, padding=pad, scope=sc, **kw)
            log.append(f"{sc} {nout} k{k} s{s} {pad} {tail}")
        elif kind == "pool":
            hh, ww = _hw(net, df)
            k = min(draw(st.sampled_from([2, 3])), hh, ww)
            s = draw(st.sampled_from([1, 2]))
            pad = draw(st.sampled_from(["SAME", "VALID"]))
            fn = draw(st.sampled_from([slim.max_pool2d, slim.avg_pool2d]))
            net = fn(net, [k, k], stride=s, padding=pad, data_format=df, scope=sc)
            log.append(f"{sc} {fn.__name__} k{k} s{s} {pad}")
        elif kind == "bias_add":
            act = draw(st.sampled_from(sorted(ACTS)))
            net = slim.bias_add(net, activation_fn=ACTS[act], data_format=df, scope=sc)
            log.append(f"{sc} +{act}")
        elif kind == "residual":
            kw, tail = _norm_act(draw, df)
            k = draw(st.sampled_from([1, 3]))
            branch = slim.conv2d(net, cin, [k, k], scope=sc, **kw)
            net = slim.nn.relu(net + branch) if draw(st.booleans()) else branch + net
            log.append(f"{sc} k{k} {tail}")
        elif kind == "concat":
            a = slim.conv2d(net, draw(st.integers(1, 3)), [1, 1], data_format=df, scope=sc + "_a")
            b = slim.conv2d(
                net, draw(st.integers(1, 3)), [3, 3], data_format=df, scope=sc + "_b", activation_fn=None
            )
            net = slim.concat([a, b], axis=1 if df == "NCHW" else 3)
            log.append(sc)
        elif kind == "act":
            act = draw(st.sampled_from(sorted(set(ACTS) - {"none"})))
            net = ACTS[act](net)
            log.append(f"{sc} {act}")
        elif kind == "bn":
            net = slim.batch_norm(net, scope=sc, **_bn_params(draw, df))
            log.append(sc)
        if with_side_output and i < n_layers - 1 and draw(st.integers(0, 5)) == 0:
            outputs.append(net)  # an intermediate value that is also a graph output
            log.append("(side output)")
    head = draw(st.sampled_from(HEADS))
    log.append(f"head {head}")
    sp = [2, 3] if df == "NCHW" else [1, 2]
    if head == "mean":
        net = slim.reduce_mean(net, sp, keepdims=draw(st.booleans()))
    elif head == "mean_squeeze":
        net = slim.squeeze(slim.reduce_mean(net, sp, keepdims=True), sp)
    elif head in ("flatten_fc", "fc_bn"):
        net = slim.flatten(net)
        act = draw(st.sampled_from(sorted(ACTS)))
        kw = {}
        if head == "fc_bn":
            kw = {"normalizer_fn": slim.batch_norm, "normalizer_params": _bn_params(draw, "NHWC")}
        net = slim.fully_connected(net, draw(st.integers(1, 5)), activation_fn=ACTS[act], scope="fc", **kw)
        if draw(st.booleans()):
            net = slim.fully_connected(net, 3, activation_fn=None, scope="logits")
    elif head == "conv_squeeze":
        hh, ww = _hw(net, df)
        net = slim.conv2d(
            net,
            draw(st.integers(1, 5)),
            [hh, ww],
            padding="VALID",
            activation_fn=None,
            data_format=df,
            scope="logits",
        )
        net = slim.squeeze(net, sp)
    outputs.append(net)
    return Net(x, outputs, shape, df, log)
