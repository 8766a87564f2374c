from .siamese_encoder_decoder import SiameseEncoderDecoder

__all__ = ['SiameseEncoderDecoder']
