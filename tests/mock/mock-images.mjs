// Image generation in the Gemini mock (mock-gemini.mjs): Imagen's `:predict` and the image
// output of Gemini image models on `generateContent`, checked as strictly as Google checks
// them (stricter where unsure):
// - `:predict` only for `imagen-*` models (404 otherwise, as for an unknown method); imagen-*
//   on generateContent/streamGenerateContent/countTokens is Google's 404 "not supported".
// - A predict body is {"instances":[{"prompt"}],"parameters":{...}}: exactly one instance
//   with a non-empty string prompt; parameters may hold only the fields Google documents
//   (PARAMETERS below); sampleCount an integer 1..4 (default 4, as Google's), aspectRatio one
//   of 1:1 3:4 4:3 9:16 16:9, personGeneration dont_allow|allow_adult|allow_all, imageSize
//   1K|2K, outputOptions {mimeType image/png|image/jpeg, compressionQuality 0..100}. Any
//   other field or value is 400 INVALID_ARGUMENT.
// - The answer: {"predictions":[{"mimeType","bytesBase64Encoded"}, ...]}, each a distinct
//   1x1 PNG (a jpeg request gets the same PNG bytes labelled image/jpeg: nothing here
//   decodes images); with enhancePrompt each prediction carries the rewritten `prompt`.
//   Behaviour {type:'imagefiltered', count:k} withholds k images (all when count is absent):
//   as {"raiFilteredReason"} predictions with includeRaiReason, else left out (and `{}` when
//   none is left, as Google answers).
// - generateContent: responseModalities with IMAGE, or an imageConfig, on a model whose name
//   has no `-image` is 400 INVALID_ARGUMENT; responseModalities values must be TEXT, IMAGE or
//   AUDIO; imageConfig holds only aspectRatio (1:1 2:3 3:2 3:4 4:3 4:5 5:4 9:16 16:9 21:9) and
//   imageSize (1K 2K 4K). An image model answers one image as inlineData (after a text part
//   unless responseModalities is ["IMAGE"]), 1290 candidate tokens; 'imagefiltered' answers
//   finishReason IMAGE_SAFETY with no content.

const IMAGEN_RATIOS = ['1:1', '3:4', '4:3', '9:16', '16:9'];
const GEMINI_RATIOS = ['1:1', '2:3', '3:2', '3:4', '4:3', '4:5', '5:4', '9:16', '16:9', '21:9'];
const PARAMETERS = new Set(['sampleCount', 'aspectRatio', 'personGeneration', 'imageSize', 'sampleImageSize',
  'outputOptions', 'includeRaiReason', 'includeSafetyAttributes', 'safetySetting', 'enhancePrompt', 'language',
  'seed', 'addWatermark', 'negativePrompt']);
export const FILTER_REASON = 'Unable to show generated images. All images were filtered out because they violated Vertex AI\'s usage guidelines. You will not be charged for blocked images. Try rephrasing the prompt. If you think this was an error, send feedback. Support codes: 58061214';

export const isImagen = (model) => typeof model === 'string' && model.startsWith('imagen-');
export const isImageModel = (model) => typeof model === 'string' && model.includes('-image');

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32(buf) {
  let c = 0xffffffff;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}

// A valid 1x1 RGB PNG whose pixel colour comes from `seed`, so that images differ.
export function pngBytes(seed, deflateSync) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(1, 0);
  ihdr.writeUInt32BE(1, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const s = (seed * 2654435761) >>> 0;
  const raw = Buffer.from([0, s & 0xff, (s >>> 8) & 0xff, (s >>> 16) & 0xff]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0)),
  ]);
}

const invalid = (message) => ({ status: 400, statusText: 'INVALID_ARGUMENT', message });
const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// Google's check of a :predict body: null when it passes, else {status, statusText, message}.
export function checkPredict(o) {
  for (const k of Object.keys(o)) {
    if (k !== 'instances' && k !== 'parameters') return invalid(`Invalid JSON payload received. Unknown name "${k}": Cannot find field.`);
  }
  if (!Array.isArray(o.instances) || o.instances.length === 0) return invalid('* PredictRequest.instances: instances is required\n');
  if (o.instances.length !== 1) return invalid('Only one instance is supported per request.');
  const inst = o.instances[0];
  if (!isObj(inst)) return invalid('Invalid instance: expected an object.');
  for (const k of Object.keys(inst)) {
    if (k !== 'prompt') return invalid(`Invalid instance field "${k}".`);
  }
  if (typeof inst.prompt !== 'string' || inst.prompt.length === 0) return invalid('The prompt is required and must be a non-empty string.');
  const p = o.parameters ?? {};
  if (!isObj(p)) return invalid('Invalid parameters: expected an object.');
  for (const k of Object.keys(p)) {
    if (!PARAMETERS.has(k)) return invalid(`Invalid parameter "${k}".`);
  }
  if (p.sampleCount !== undefined && !(Number.isInteger(p.sampleCount) && p.sampleCount >= 1 && p.sampleCount <= 4)) {
    return invalid(`sampleCount must be an integer between 1 and 4, got ${JSON.stringify(p.sampleCount)}.`);
  }
  if (p.aspectRatio !== undefined && !IMAGEN_RATIOS.includes(p.aspectRatio)) {
    return invalid(`Unsupported aspect ratio ${JSON.stringify(p.aspectRatio)}. Supported: ${IMAGEN_RATIOS.join(', ')}.`);
  }
  if (p.personGeneration !== undefined && !['dont_allow', 'allow_adult', 'allow_all'].includes(p.personGeneration)) {
    return invalid(`Invalid personGeneration ${JSON.stringify(p.personGeneration)}.`);
  }
  for (const k of ['imageSize', 'sampleImageSize']) {
    if (p[k] !== undefined && !['1K', '2K'].includes(p[k])) return invalid(`Invalid ${k} ${JSON.stringify(p[k])}.`);
  }
  for (const k of ['includeRaiReason', 'includeSafetyAttributes', 'enhancePrompt', 'addWatermark']) {
    if (p[k] !== undefined && typeof p[k] !== 'boolean') return invalid(`Invalid value for ${k}: expected a boolean.`);
  }
  if (p.outputOptions !== undefined) {
    const oo = p.outputOptions;
    if (!isObj(oo)) return invalid('Invalid outputOptions: expected an object.');
    for (const k of Object.keys(oo)) {
      if (k !== 'mimeType' && k !== 'compressionQuality') return invalid(`Invalid outputOptions field "${k}".`);
    }
    if (oo.mimeType !== undefined && !['image/png', 'image/jpeg'].includes(oo.mimeType)) {
      return invalid(`Unsupported output mime type ${JSON.stringify(oo.mimeType)}.`);
    }
    if (oo.compressionQuality !== undefined && !(Number.isInteger(oo.compressionQuality) && oo.compressionQuality >= 0 && oo.compressionQuality <= 100)) {
      return invalid('compressionQuality must be an integer between 0 and 100.');
    }
  }
  return null;
}

// The answer to a :predict body that passed checkPredict.
export function predictAnswer(o, b, deflateSync) {
  const p = o.parameters ?? {};
  const count = p.sampleCount ?? 4;
  const mimeType = p.outputOptions?.mimeType ?? 'image/png';
  const withheld = b.type === 'imagefiltered' ? Math.min(b.count ?? count, count) : 0;
  const predictions = [];
  const base = Math.floor(Math.random() * 1e6);
  for (let i = 0; i < count; i++) {
    if (i < withheld) {
      if (p.includeRaiReason) predictions.push({ raiFilteredReason: b.reason ?? FILTER_REASON });
      continue;
    }
    const pred = { mimeType, bytesBase64Encoded: pngBytes(base + i, deflateSync).toString('base64') };
    if (p.enhancePrompt) pred.prompt = `A detailed, high quality image of ${o.instances[0].prompt}`;
    predictions.push(pred);
  }
  return predictions.length ? { predictions } : {};
}

// Google's check of the image side of a generateContent body: null when it passes.
export function checkImageGeneration(o, model) {
  if (isImagen(model)) return null;  // the method's 404 comes first
  const g = o.generationConfig ?? o.generation_config;
  if (!isObj(g)) return null;
  const modalities = g.responseModalities ?? g.response_modalities;
  const imageConfig = g.imageConfig ?? g.image_config;
  if (modalities !== undefined) {
    if (!Array.isArray(modalities)) return invalid('Invalid value at \'generation_config.response_modalities\': expected a list.');
    const bad = modalities.find((m) => !['TEXT', 'IMAGE', 'AUDIO'].includes(m));
    if (bad !== undefined) return invalid(`Invalid value at 'generation_config.response_modalities[0]' (type.googleapis.com/google.ai.generativelanguage.v1beta.GenerationConfig.Modality), ${JSON.stringify(bad)}`);
    if (modalities.includes('IMAGE') && !isImageModel(model)) {
      return invalid(`The requested combination of response modalities (${modalities.join(', ')}) is not supported by the model. models/${model} accepts the following combination of response modalities:\n* TEXT\n`);
    }
  }
  if (imageConfig !== undefined) {
    if (!isImageModel(model)) return invalid(`Image config is not supported for models/${model}.`);
    if (!isObj(imageConfig)) return invalid('Invalid value at \'generation_config.image_config\': expected an object.');
    for (const k of Object.keys(imageConfig)) {
      if (!['aspectRatio', 'aspect_ratio', 'imageSize', 'image_size'].includes(k)) {
        return invalid(`Invalid JSON payload received. Unknown name "${k}" at 'generation_config.image_config': Cannot find field.`);
      }
    }
    const ratio = imageConfig.aspectRatio ?? imageConfig.aspect_ratio;
    if (ratio !== undefined && !GEMINI_RATIOS.includes(ratio)) return invalid(`Unsupported aspect ratio: ${ratio}`);
    const size = imageConfig.imageSize ?? imageConfig.image_size;
    if (size !== undefined && !['1K', '2K', '4K'].includes(size)) return invalid(`Unsupported image size: ${size}`);
  }
  return null;
}

// An image model's generateContent answer.
export function imageGenerateAnswer(o, model, b, deflateSync, responseId) {
  const g = o.generationConfig ?? o.generation_config ?? {};
  const modalities = g.responseModalities ?? g.response_modalities ?? ['TEXT', 'IMAGE'];
  const usageMetadata = { promptTokenCount: 7, candidatesTokenCount: 1290, totalTokenCount: 1297, promptTokensDetails: [{ modality: 'TEXT', tokenCount: 7 }] };
  if (b.type === 'imagefiltered') {
    return {
      candidates: [{ finishReason: 'IMAGE_SAFETY', finishMessage: b.reason ?? 'Unable to show the generated image. The image was filtered out because it violated Google\'s Generative AI Prohibited Use policy.', index: 0 }],
      usageMetadata: { promptTokenCount: 7, totalTokenCount: 7 }, modelVersion: model, responseId,
    };
  }
  const parts = [];
  if (modalities.includes('TEXT')) parts.push({ text: 'Here is the image you asked for.' });
  if (modalities.includes('IMAGE')) {
    parts.push({ inlineData: { mimeType: 'image/png', data: pngBytes(Math.floor(Math.random() * 1e6), deflateSync).toString('base64') } });
  }
  return {
    candidates: [{ content: { parts, role: 'model' }, finishReason: 'STOP', index: 0 }],
    usageMetadata, modelVersion: model, responseId,
  };
}
