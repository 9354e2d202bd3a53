"""PyTorch twins of the LDAE networks, written from the architecture descriptions (ldae-reference.md 2.1, 2.2,
4.1, 5.1, 5.2 and 12) with the published state-dict keys (ldae-state-dicts/*.txt). They are the numerical
reference of the whole-network cases (generate_network_cases.py) and of the checkpoint converter's test.

  AutoencoderKL             monai-generative layout (encoder.blocks.N, quant_conv_mu, ...), attention levels and
                            non-local blocks included (their proj_attn Linear exists but is never applied)
  PatchDiscriminator        monai-generative layout (initial_conv, 0 .. num_layers_d-1, final_conv)
  UNet, ShiftUNet           guided-diffusion / PDAE layout (time_embed, input_blocks, middle_block, ...)
  ConvNeXt                  torchvision's ConvNeXt with an in_channels stem and no final classifier Linear
  AttentionSemanticEncoder  the 2.5D semantic encoder; its backbone is registered once (backbone.backbone.*)

Only torch and torchvision (ConvNeXt) are used. The blocks of the UNets (ResBlock, AttentionBlock,
timestep_embedding) are those of generate_module_cases.py, already checked block by block.
"""

import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from generate_module_cases import AttentionBlock, ResBlock, timestep_embedding  # noqa: E402


def _conv(dims):
    return {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[dims]


def _per_level(value, levels):
    if isinstance(value, int):
        return [value] * levels
    value = list(value)
    return value * levels if len(value) == 1 else value


# ----------------------------------------------------------------------------------------------------------
# AutoencoderKL (ldae-reference 2.1, 12)


class AeConv(nn.Module):
    """MONAI's Convolution(conv_only=True): the convolution is the child "conv"."""

    def __init__(self, dims, cin, cout, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = _conv(dims)(cin, cout, kernel, stride=stride, padding=padding)

    def forward(self, x):
        return self.conv(x)


class AeResBlock(nn.Module):
    def __init__(self, dims, cin, cout, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = AeConv(dims, cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = AeConv(dims, cout, cout, 3, padding=1)
        self.nin_shortcut = AeConv(dims, cin, cout, 1) if cin != cout else None

    def forward(self, x):
        h = self.conv1(F.silu(self.norm1(x)))
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.nin_shortcut(x) if self.nin_shortcut is not None else x) + h


class AeDownsample(nn.Module):
    """Zero-pad one voxel at the end of every spatial axis, then a stride-2 3^k conv without padding."""

    def __init__(self, dims, channels):
        super().__init__()
        self.dims = dims
        self.conv = AeConv(dims, channels, channels, 3, stride=2, padding=0)

    def forward(self, x):
        return self.conv(F.pad(x, (0, 1) * self.dims))


class AeUpsample(nn.Module):
    def __init__(self, dims, channels):
        super().__init__()
        self.conv = AeConv(dims, channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class AeAttention(nn.Module):
    """Single-head self-attention over all voxels on GN(x), Linears on channels; proj_attn is never applied."""

    def __init__(self, channels, groups, eps):
        super().__init__()
        self.norm = nn.GroupNorm(groups, channels, eps=eps)
        self.to_q = nn.Linear(channels, channels)
        self.to_k = nn.Linear(channels, channels)
        self.to_v = nn.Linear(channels, channels)
        self.proj_attn = nn.Linear(channels, channels)

    def forward(self, x):
        b, c = x.shape[:2]
        h = self.norm(x).reshape(b, c, -1).transpose(1, 2)  # (B, L, C)
        q, k, v = self.to_q(h), self.to_k(h), self.to_v(h)
        w = torch.softmax(q @ k.transpose(1, 2) / math.sqrt(c), dim=-1)
        a = (w @ v).transpose(1, 2).reshape(x.shape)
        return x + a


class AeEncoder(nn.Module):
    def __init__(self, spatial_dims, in_channels, num_channels, latent_channels, num_res_blocks, norm_num_groups,
                 norm_eps, attention_levels, with_nonlocal_attn):
        super().__init__()
        d, g, e = spatial_dims, norm_num_groups, norm_eps
        blocks = [AeConv(d, in_channels, num_channels[0], 3, padding=1)]
        cin = num_channels[0]
        for i, ch in enumerate(num_channels):
            for _ in range(num_res_blocks[i]):
                blocks.append(AeResBlock(d, cin, ch, g, e))
                cin = ch
                if attention_levels[i]:
                    blocks.append(AeAttention(ch, g, e))
            if i != len(num_channels) - 1:
                blocks.append(AeDownsample(d, ch))
        if with_nonlocal_attn:
            blocks += [AeResBlock(d, cin, cin, g, e), AeAttention(cin, g, e), AeResBlock(d, cin, cin, g, e)]
        blocks += [nn.GroupNorm(g, cin, eps=e), AeConv(d, cin, latent_channels, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class AeDecoder(nn.Module):
    def __init__(self, spatial_dims, out_channels, num_channels, latent_channels, num_res_blocks, norm_num_groups,
                 norm_eps, attention_levels, with_nonlocal_attn):
        super().__init__()
        d, g, e = spatial_dims, norm_num_groups, norm_eps
        chans, nrb, attn = num_channels[::-1], num_res_blocks[::-1], attention_levels[::-1]
        cin = chans[0]
        blocks = [AeConv(d, latent_channels, cin, 3, padding=1)]
        if with_nonlocal_attn:
            blocks += [AeResBlock(d, cin, cin, g, e), AeAttention(cin, g, e), AeResBlock(d, cin, cin, g, e)]
        for i, ch in enumerate(chans):
            for _ in range(nrb[i]):
                blocks.append(AeResBlock(d, cin, ch, g, e))
                cin = ch
                if attn[i]:
                    blocks.append(AeAttention(ch, g, e))
            if i != len(chans) - 1:
                blocks.append(AeUpsample(d, ch))
        blocks += [nn.GroupNorm(g, cin, eps=e), AeConv(d, cin, out_channels, 3, padding=1)]
        self.blocks = nn.ModuleList(blocks)

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class AutoencoderKL(nn.Module):
    """monai-generative's AutoencoderKL (constructor arguments as published, library defaults)."""

    def __init__(self, spatial_dims=3, in_channels=1, out_channels=1, num_channels=(32, 64, 64, 64),
                 latent_channels=3, num_res_blocks=2, norm_num_groups=32, norm_eps=1e-6,
                 attention_levels=(False, False, True, True), with_encoder_nonlocal_attn=True,
                 with_decoder_nonlocal_attn=True):
        super().__init__()
        levels = len(num_channels)
        nrb = _per_level(num_res_blocks, levels)
        attn = list(attention_levels)
        assert len(nrb) == levels and len(attn) == levels
        self.encoder = AeEncoder(spatial_dims, in_channels, list(num_channels), latent_channels, nrb,
                                 norm_num_groups, norm_eps, attn, with_encoder_nonlocal_attn)
        self.decoder = AeDecoder(spatial_dims, out_channels, list(num_channels), latent_channels, nrb,
                                 norm_num_groups, norm_eps, attn, with_decoder_nonlocal_attn)
        self.quant_conv_mu = AeConv(spatial_dims, latent_channels, latent_channels, 1)
        self.quant_conv_log_sigma = AeConv(spatial_dims, latent_channels, latent_channels, 1)
        self.post_quant_conv = AeConv(spatial_dims, latent_channels, latent_channels, 1)

    def encode(self, x):
        """x: (N, in, spatial...) -> (z_mu, z_sigma), log sigma^2 clamped to [-30, 20]."""
        h = self.encoder(x)
        z_mu = self.quant_conv_mu(h)
        log_var = torch.clamp(self.quant_conv_log_sigma(h), -30.0, 20.0)
        return z_mu, torch.exp(log_var / 2)

    def decode(self, z):
        return self.decoder(self.post_quant_conv(z))

    def reconstruct(self, x):
        return self.decode(self.encode(x)[0])


# ----------------------------------------------------------------------------------------------------------
# PatchDiscriminator (ldae-reference 2.2, 12)


class _Act(nn.Module):  # MONAI's ADN: children N (norm), D (dropout), A (activation), applied in that order
    def __init__(self, dims, channels, norm, dropout, negative_slope):
        super().__init__()
        if norm:
            self.N = {2: nn.BatchNorm2d, 3: nn.BatchNorm3d}[dims](channels)
        if dropout:
            self.D = nn.Dropout(dropout)
        self.A = nn.LeakyReLU(negative_slope)

    def forward(self, x):
        for m in self.children():
            x = m(x)
        return x


class _DiscConv(nn.Module):  # MONAI's Convolution: child "conv", then "adn" unless conv_only
    def __init__(self, dims, cin, cout, kernel, stride, padding, bias, norm=False, dropout=0.0,
                 negative_slope=None):
        super().__init__()
        self.conv = _conv(dims)(cin, cout, kernel, stride=stride, padding=padding, bias=bias)
        if negative_slope is not None:
            self.adn = _Act(dims, cout, norm, dropout, negative_slope)

    def forward(self, x):
        x = self.conv(x)
        return self.adn(x) if hasattr(self, "adn") else x


class PatchDiscriminator(nn.Sequential):
    """initial_conv (bias, LeakyReLU, no norm), layers "0".."num_layers_d-1" (conv without bias unless `bias`,
    batch norm, dropout, LeakyReLU; stride 2 but 1 for the last), final_conv (bias, conv only, stride 1)."""

    def __init__(self, spatial_dims=3, num_layers_d=3, num_channels=32, in_channels=1, out_channels=1,
                 kernel_size=4, activation=("LEAKYRELU", {"negative_slope": 0.2}), norm="BATCH", bias=False,
                 padding=1, dropout=0.0):
        super().__init__()
        assert activation[0] == "LEAKYRELU" and norm == "BATCH"
        slope = activation[1]["negative_slope"]
        d, k = spatial_dims, kernel_size
        self.add_module("initial_conv", _DiscConv(d, in_channels, num_channels, k, 2, padding, True,
                                                  negative_slope=slope))
        cin = num_channels
        for i in range(num_layers_d):
            cout = num_channels * 2 ** (i + 1)
            stride = 1 if i == num_layers_d - 1 else 2
            self.add_module(str(i), _DiscConv(d, cin, cout, k, stride, padding, bias, norm=True, dropout=dropout,
                                              negative_slope=slope))
            cin = cout
        self.add_module("final_conv", _DiscConv(d, cin, out_channels, k, 1, padding, True))


# ----------------------------------------------------------------------------------------------------------
# UNet and ShiftUNet (ldae-reference 4.1, 5.2, 12)


class TimestepSequential(nn.Sequential):
    """guided-diffusion's TimestepEmbedSequential: each child gets what it needs."""

    def forward(self, x, emb, emb_z=None):
        for m in self:
            if isinstance(m, ResBlock):
                x = m(x, emb, emb_z) if m.semantic else m(x, emb)
            else:
                x = m(x)
        return x


class UNet(nn.Module):
    """Constructor arguments as published; num_groups (hard-coded 32 in the published code) and
    isotropic_resampling (2x2x2 instead of (1, 2, 2) for dims 3) are extensions for small test networks."""

    def __init__(self, input_channel=3, base_channel=256, channel_multiplier=(1, 2, 3),
                 num_residual_blocks_of_a_block=2, attention_resolutions=(2, 4), num_heads=1, head_channel=-1,
                 use_new_attention_order=False, dropout=0.1, dims=3, num_groups=32, isotropic_resampling=False,
                 latent_dim=None):
        super().__init__()
        self.base, self.semantic = base_channel, latent_dim is not None
        emb_dim = 4 * base_channel
        factors = [2] * dims if (isotropic_resampling or dims != 3) else [1, 2, 2]
        nrb = num_residual_blocks_of_a_block

        def res(cin, cout, semantic=False, **kw):
            return ResBlock(cin, emb_dim, cout, dropout=dropout, dims=dims, num_groups=num_groups,
                            resample_factors=factors, semantic=semantic, **kw)

        def attn(ch):
            return AttentionBlock(ch, num_heads=num_heads, num_head_channels=head_channel, num_groups=num_groups,
                                  use_new_attention_order=use_new_attention_order)

        self.time_embed = nn.Sequential(nn.Linear(base_channel, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        if self.semantic:
            self.label_emb = nn.Linear(latent_dim, emb_dim)
        # The input conv is as wide as level 0 (base_channel * channel_multiplier[0], as in guided-diffusion),
        # and so is the output head.
        ch = base_channel * channel_multiplier[0]
        blocks = [TimestepSequential(_conv(dims)(input_channel, ch, 3, padding=1))]
        skips, ds = [ch], 1
        for level, mult in enumerate(channel_multiplier):
            for _ in range(nrb):
                layers = [res(ch, base_channel * mult)]
                ch = base_channel * mult
                if ds in attention_resolutions:
                    layers.append(attn(ch))
                blocks.append(TimestepSequential(*layers))
                skips.append(ch)
            if level != len(channel_multiplier) - 1:
                blocks.append(TimestepSequential(res(ch, ch, down=True)))
                skips.append(ch)
                ds *= 2
        self.input_blocks = nn.ModuleList(blocks)

        def middle(semantic):
            return TimestepSequential(res(ch, ch, semantic), attn(ch), res(ch, ch, semantic))

        def decoder(semantic):
            out, c, d, stack = [], ch, ds, list(skips)
            for level, mult in reversed(list(enumerate(channel_multiplier))):
                for i in range(nrb + 1):
                    layers = [res(c + stack.pop(), base_channel * mult, semantic)]
                    c = base_channel * mult
                    if d in attention_resolutions:
                        layers.append(attn(c))
                    if level and i == nrb:
                        layers.append(res(c, c, semantic, up=True))
                        d //= 2
                    out.append(TimestepSequential(*layers))
            return nn.ModuleList(out), c

        def head(c):
            return nn.Sequential(nn.GroupNorm(num_groups, c), nn.SiLU(), _conv(dims)(c, input_channel, 3, padding=1))

        self.middle_block = middle(False)
        if self.semantic:
            self.shift_middle_block = middle(True)
        self.output_blocks, c = decoder(False)
        if self.semantic:
            self.shift_output_blocks, _ = decoder(True)
        self.out = head(c)
        if self.semantic:
            self.shift_out = head(c)
            # The published ShiftUNet freezes its UNet part in its constructor.
            for name, p in self.named_parameters():
                if not (name.startswith("label_emb.") or name.startswith("shift_")):
                    p.requires_grad_(False)

    def encode(self, x, t):
        emb = self.time_embed(timestep_embedding(t, self.base))
        hs, h = [], x
        for m in self.input_blocks:
            h = m(h, emb)
            hs.append(h)
        return h, hs, emb

    @staticmethod
    def decode(blocks, h, hs, emb, emb_z=None):
        hs = list(hs)
        for m in blocks:
            h = m(torch.cat([h, hs.pop()], dim=1), emb, emb_z)
        return h

    def forward(self, x, t, y_sem=None):
        """x: (N, C, spatial...), t: (N,) whole numbers [, y_sem: (N, latent_dim)] -> eps [, shift]."""
        h, hs, emb = self.encode(x, t)
        eps = self.out(self.decode(self.output_blocks, self.middle_block(h, emb), hs, emb))
        if not self.semantic:
            return eps
        e_y = self.label_emb(y_sem)
        g = self.shift_middle_block(h, emb, e_y)
        g = self.shift_out(self.decode(self.shift_output_blocks, g, hs, emb, e_y))
        return eps, g


def ShiftUNet(latent_dim=768, **unet_kwargs):
    """The UNet's arguments plus latent_dim: forward(z_t, t, y_sem) -> (eps, shift)."""
    return UNet(latent_dim=latent_dim, **unet_kwargs)


# ----------------------------------------------------------------------------------------------------------
# ConvNeXt and the semantic encoder (ldae-reference 5.1, 12)


def ConvNeXt(dims, depths, layer_scale=1e-6, stochastic_depth_prob=0.1, in_channels=3):
    """torchvision's ConvNeXt (stages of dims/depths), stem taking in_channels, the classifier's final Linear
    replaced by Identity: (N, in_channels, H, W) -> (N, dims[-1])."""
    from torchvision.models.convnext import CNBlockConfig
    from torchvision.models.convnext import ConvNeXt as TVConvNeXt

    settings = [CNBlockConfig(dims[i], dims[i + 1] if i + 1 < len(dims) else None, depths[i])
                for i in range(len(dims))]
    m = TVConvNeXt(settings, stochastic_depth_prob=stochastic_depth_prob, layer_scale=layer_scale)
    if in_channels != 3:
        m.features[0][0] = nn.Conv2d(in_channels, dims[0], kernel_size=4, stride=4)
    m.classifier[2] = nn.Identity()
    return m


class BackboneWrapper(nn.Module):  # the published encoder's wrapper: child "backbone" is the ConvNeXt
    def __init__(self, backbone):
        super().__init__()
        self.backbone = backbone

    def forward(self, x):
        return self.backbone(x)


class PositionalEncoding(nn.Module):
    """Fixed sinusoids over the slice index: pe[0, p, 2i] = sin(p / 10000^(2i/d)), pe[0, p, 2i+1] = cos(...);
    buffer pe (1, seq_len, d); then dropout."""

    def __init__(self, d, seq_len, dropout=0.1):
        super().__init__()
        # Computed in float64 on the CPU (exact for float64 cases; .to(dtype) rounds it).
        cpu = torch.device("cpu")
        pos = torch.arange(seq_len, dtype=torch.float64, device=cpu)[:, None]
        div = torch.exp(torch.arange(0, d, 2, dtype=torch.float64, device=cpu) * (-math.log(10000.0) / d))
        pe = torch.zeros(seq_len, d, dtype=torch.float64, device=cpu)
        pe[:, 0::2] = torch.sin(pos * div)
        pe[:, 1::2] = torch.cos(pos * div)[:, : d // 2]
        self.register_buffer("pe", pe[None])
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(x + self.pe[:, : x.shape[1]])


class SoftAttention(nn.Module):  # a score per slice, softmax over slices, weighted mean
    def __init__(self, d):
        super().__init__()
        self.linear = nn.Linear(d, 1)

    def forward(self, x):
        w = torch.softmax(self.linear(x), dim=1)
        return (w * x).sum(dim=1)


class AttentionSemanticEncoder(nn.Module):
    """(B, 1, S, H, W) -> (B, emb_chans): ConvNeXt per slice, + positional encoding, soft-attention pooled query,
    multi-head cross-attention over the slices, LayerNorm. The backbone is registered once."""

    def __init__(self, emb_chans=768, num_heads=8, attn_dropout=0.1, seq_len=128, backbone_dims=(96, 192, 384, 768),
                 backbone_depths=(3, 3, 27, 3), layer_scale=1e-6, stochastic_depth_prob=0.4, grayscale=True):
        super().__init__()
        assert grayscale, "the twin builds the grayscale (1-channel stem) encoder only"
        assert backbone_dims[-1] == emb_chans
        self.backbone = BackboneWrapper(ConvNeXt(list(backbone_dims), list(backbone_depths), layer_scale,
                                                 stochastic_depth_prob, in_channels=1))
        self.positional_encoding = PositionalEncoding(emb_chans, seq_len)
        self.query_projection = nn.Linear(emb_chans, emb_chans)
        self.key_projection = nn.Linear(emb_chans, emb_chans)
        self.value_projection = nn.Linear(emb_chans, emb_chans)
        self.soft_attention = SoftAttention(emb_chans)
        self.cross_attention = nn.MultiheadAttention(emb_chans, num_heads, dropout=attn_dropout, batch_first=True)
        self.layer_norm_after_attention = nn.LayerNorm(emb_chans)

    def forward(self, x):
        b, c, s, h, w = x.shape
        assert c == 1
        f = self.backbone(x.reshape(b * s, 1, h, w)).reshape(b, s, -1)  # (B, S, emb)
        f = self.positional_encoding(f)
        g = self.soft_attention(f)  # (B, emb)
        q = self.query_projection(g)[:, None]
        k, v = self.key_projection(f), self.value_projection(f)
        a, _ = self.cross_attention(q, k, v)
        return self.layer_norm_after_attention(a).squeeze(1)


# ----------------------------------------------------------------------------------------------------------
# The paper configurations (ldae-state-dicts/README.md)

PAPER = {
    "autoencoder_kl": (AutoencoderKL, dict(spatial_dims=3, in_channels=1, out_channels=1,
                                           num_channels=[64, 128, 128, 128], latent_channels=3, num_res_blocks=2,
                                           norm_num_groups=32, norm_eps=1e-6,
                                           attention_levels=[False, False, False, False],
                                           with_encoder_nonlocal_attn=False, with_decoder_nonlocal_attn=False)),
    "patch_discriminator": (PatchDiscriminator, dict(spatial_dims=3, num_layers_d=3, num_channels=64, in_channels=1,
                                                     out_channels=1, kernel_size=4,
                                                     activation=["LEAKYRELU", {"negative_slope": 0.2}],
                                                     norm="BATCH", bias=False, padding=1)),
    "unet": (UNet, dict(input_channel=3, base_channel=256, channel_multiplier=[1, 2, 3],
                        num_residual_blocks_of_a_block=2, attention_resolutions=[2, 4], num_heads=1,
                        head_channel=-1, use_new_attention_order=False, dropout=0.1, dims=3)),
    "shift_unet": (ShiftUNet, dict(input_channel=3, base_channel=256, channel_multiplier=[1, 2, 3],
                                   num_residual_blocks_of_a_block=2, attention_resolutions=[2, 4], num_heads=1,
                                   head_channel=-1, use_new_attention_order=False, dropout=0.1, dims=3,
                                   latent_dim=768)),
    "convnext": (ConvNeXt, dict(dims=[96, 192, 384, 768], depths=[3, 3, 27, 3], layer_scale=1e-6,
                                stochastic_depth_prob=0.4, in_channels=1)),
    "attention_semantic_encoder": (AttentionSemanticEncoder, dict(emb_chans=768, num_heads=8, attn_dropout=0.1,
                                                                  seq_len=128)),
}
