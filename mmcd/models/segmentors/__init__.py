from .fast_change_segmentor import FastChangeSegmentor
from .siamese_encoder_decoder import SiameseEncoderDecoder

__all__ = ['FastChangeSegmentor', 'SiameseEncoderDecoder']
