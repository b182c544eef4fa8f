"""Our classification of TensorFlow's ops: a family for each, and the ops the runtime leaves out.

TensorFlow records no such facts; these are ours. Every op the registry holds (see
:mod:`savedmodel_io.graph.opdefs`) gets one family from the rules below: exact names
first, then name patterns in order. The *universe* of the numpy runtime is every
registered op minus the exclusions, each with its reason (training, file and network
I/O, random sampling, TPU/XLA, multi-device, summaries, input pipelines, ops
TensorFlow keeps for its own tests...). docs/ops.md is generated from this module.
"""

from __future__ import annotations

from dataclasses import dataclass

from savedmodel_io.graph import opdefs

__all__ = ["FAMILIES", "custom_op_library", "custom_op_note", "excluded", "family", "universe"]


@dataclass(frozen=True)
class _Rule:
    family: str
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()

    def matches(self, op: str) -> bool:
        return (op.startswith(self.prefixes) or op.endswith(self.suffixes)
                or any(c in op for c in self.contains))


def _names(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# Families, each with what it holds (docs/ops.md shows these in this order).
FAMILIES: dict[str, str] = {
    "math": "elementwise math, comparisons, reductions, scans, casts, matrix products",
    "linalg": "linear algebra: decompositions, solves, determinants, matrix diagonals, einsum",
    "nn": "neural-network layers: convolution, pooling, normalisation, activations, RNN cells",
    "array": "shapes and layout: reshape, slice, gather, scatter, concat, pad, constants",
    "image": "image resizing, crops, colour, bounding boxes, image codecs",
    "signal": "FFTs and audio features",
    "strings": "string and Unicode processing, regexes, hashing into buckets",
    "sparse": "SparseTensor and CSR sparse-matrix ops, set ops",
    "ragged": "RaggedTensor ops",
    "segment": "segment reductions (sorted, unsorted, sparse)",
    "control": "functions, conditionals, loops, dataflow control flow, assertions",
    "resource": "variables and other resources: handles, reads, assignments, scatter updates",
    "lookup": "hash tables and their initializers",
    "parsing": "tf.Example parsing and tensor (de)serialisation",
    "tensorlist": "TensorLists, TensorArrays and TensorMaps",
    "quantization": "quantize/dequantize, fake quantization, quantized kernels",
    "debug": "printing, numeric checks and debugger instrumentation",
    "random": "random and quasi-random sampling, stateful and stateless",
    "io": "files, checkpoints, record readers and network calls",
    "training": "optimizer updates, gradient accumulators, candidate samplers, the stacks "
                "TF1 while-loop gradients keep",
    "boosted_trees": "tf.estimator boosted trees",
    "queue": "TF1 queues, barriers, staging areas and session handles",
    "dataset": "tf.data datasets and iterators",
    "summary": "TensorBoard summaries",
    "tpu": "TPU embedding, compilation and execution",
    "xla": "XLA compiler ops",
    "collective": "multi-device and multi-host communication",
    "risc": "the experimental RISC op set",
    "internal": "TensorFlow's internal ops (leading underscore)",
    "test": "ops TensorFlow registers for its own tests",
}

# Ops TensorFlow registers for its unit tests (tensorflow/tensorflow
# tensorflow/python/framework/test_ops.cc, tensorflow/core/user_ops/fact.cc).
_TEST = _names("""
A Attr AttrBool AttrBoolList AttrDefault AttrEmptyListDefault AttrEnum AttrEnumList AttrFloat
AttrListDefault AttrListMin AttrListTypeDefault AttrMin AttrPartialShape AttrPartialShapeList
AttrShape AttrShapeList AttrTypeDefault B Binary ComplexStruct ConstructionFails CopyOp
DefaultAttrs DevicePlacementOp DtypeWithDefaultOp Fact FiveFloatOutputs FloatInput FloatOutput
FloatOutputStringOutput Foo1 Foo2 Foo3 FuncAttr FuncListAttr GetDeadline GraphDefVersion
InPolymorphicTwice Int64Output IntAttr IntInput IntInputFloatInput IntInputIntOutput IntOutput
IntOutputFloatOutput IsResourceHandleRefCounting IsTensorFloat32Enabled KernelLabel
KernelLabelRequired ListInput ListOutput MakeWeakResourceHandle MixedStruct NInPolymorphicTwice
NInTwice NInTwoTypeVariables NIntsIn NIntsOut NIntsOutDefault NPolymorphicIn NPolymorphicOut
NPolymorphicOutDefault NPolymorphicRestrictIn NPolymorphicRestrictOut Namespace>TestStringOutput
None Old OpWithDefaultAttr OpWithFutureDefaultAttr OutT OutTypeList OutTypeListRestrict
Polymorphic PolymorphicDefaultOut PolymorphicOut RefIn RefInputFloatInput
RefInputFloatInputIntOutput RefInputIntInput RefOut RefOutput RefOutputFloatOutput
RequiresOlderGraphVersion ReservedAttr ReservedInput ResourceCreateOp ResourceInitializedOp
ResourceUsingOp Restrict Simple SimpleStruct SleepIdentityOp SleepOp StringListAttr
StubResourceHandleOp TestAttr TestStringOutput TwoFloatInputs TwoFloatInputsFloatOutput
TwoFloatInputsIntOutput TwoFloatOutputs TwoIntInputs TwoIntOutputs TwoRefsIn TypeList
TypeListRestrict TypeListTwice Unary
""")

# Exact names, for ops whose names follow no pattern of their family (or break one).
_EXACT: dict[str, tuple[str, ...]] = {
    "test": _TEST,
    "math": _names("""
Abs AccumulateNV2 Acos Acosh Add AddN AddV2 All Angle Any ApproximateEqual ArgMax ArgMin Asin
Asinh Atan Atan2 Atanh BatchMatMul BatchMatMulV2 BatchMatMulV3 Betainc Bincount Bucketize Cast
Ceil ClipByValue Complex ComplexAbs Conj Cos Cosh Cross Cumprod Cumsum CumulativeLogsumexp
DenseBincount Digamma Div DivNoNan Equal Erf Erfc Erfinv EuclideanNorm Exp Expm1 Floor
FloorDiv FloorMod Greater GreaterEqual HistogramFixedWidth Igamma IgammaGradA Igammac Imag Inv
InvGrad Invert IsFinite IsInf IsNan LeftShift Less LessEqual Lgamma LinSpace Log Log1p
LogicalAnd LogicalNot LogicalOr MatMul Max Maximum Mean Min Minimum Mod Mul MulNoNan Ndtri Neg
NextAfter NotEqual Polygamma PopulationCount Pow Prod Range Real RealDiv Reciprocal
ReciprocalGrad RightShift Rint Round Rsqrt RsqrtGrad Select SelectV2 Sigmoid SigmoidGrad Sign
Sin Sinh SparseMatMul Sqrt SqrtGrad Square SquaredDifference Sub Sum Tan Tanh
TanhGrad TruncateDiv TruncateMod Xdivy Xlog1py Xlogy Zeta Dawsn Expint FresnelCos FresnelSin
Spence
"""),
    "linalg": _names("""
BandedTriangularSolve Cholesky CholeskyGrad Diag DiagPart Eig Einsum LogMatrixDeterminant Lu
Qr Svd
"""),
    "nn": _names("""
ApproxTopK InTopK InTopKV2 IsotonicRegression L2Loss LRN LRNGrad NthElement TopK TopKV2
SoftmaxCrossEntropyWithLogits SparseSoftmaxCrossEntropyWithLogits
"""),
    "array": _names("""
BroadcastArgs BroadcastGradientArgs Bitcast CheckPinned CompositeTensorVariantFromComponents
CompositeTensorVariantToComponents Const DeepCopy Empty EnsureShape ExpandDims
ExtractVolumePatches Fill Fingerprint GuaranteeConst HostConst InvertPermutation ListDiff
LowerBound OneHot OnesLike ParallelConcat Rank Reshape Roll ScatterNd ScatterNdNonAliasingAdd
Shape ShapeN Size Slice Snapshot Squeeze StopGradient PreventGradient Tile TileGrad Transpose
ConjugateTranspose UnravelIndex UpperBound Where ZerosLike DynamicPartition DynamicStitch
ParallelDynamicStitch Identity IdentityN RefIdentity Placeholder PlaceholderV2
PlaceholderWithDefault
"""),
    "image": _names("""
RGBToHSV HSVToRGB ExtractImagePatches ExtractJpegShape GenerateBoundingBoxProposals
CombinedNonMaxSuppression DecodeAndCropJpeg DecodeBmp DecodeGif DecodeImage DecodeJpeg DecodeJxl
DecodePng DecodeWebP EncodeJpeg EncodeJpegVariableQuality EncodePng
"""),
    "signal": _names("AudioSpectrogram Mfcc AudioMicrofrontend DecodeWav EncodeWav"),
    "strings": _names("""
AsString DecodeBase64 EncodeBase64 ReduceJoin UnsortedSegmentJoin StringToNumber
"""),
    "sparse": _names("""
AddManySparseToTensorsMap AddSparseToTensorsMap TakeManySparseFromTensorsMap SerializeSparse
SerializeManySparse DeserializeSparse DeserializeManySparse DenseToCSRSparseMatrix SetSize
DenseToDenseSetOperation DenseToSparseSetOperation EditDistance DenseCountSparseOutput
"""),
    "control": _names("""
If While Case StatelessIf StatelessWhile StatelessCase For PartitionedCall
StatefulPartitionedCall RemoteCall SymbolicGradient Switch Merge Enter Exit NextIteration
LoopCond RefSwitch RefMerge RefEnter RefExit RefNextIteration RefSelect NoOp ControlTrigger
Abort Assert ToBool DeviceIndex FakeParam Batch BatchFunction Unbatch UnbatchGrad SyncDevice
PyFunc PyFuncStateless EagerPyFunc
"""),
    "resource": _names("""
VarHandleOp ReadVariableOp AssignVariableOp AssignAddVariableOp AssignSubVariableOp
VarIsInitializedOp DestroyResourceOp DisableCopyOnRead VariableShape Variable VariableV2
TemporaryVariable DestroyTemporaryVariable IsVariableInitialized Assign AssignAdd AssignSub
CountUpTo ResourceCountUpTo MutexV2 MutexLock ConsumeMutexLock StridedSliceAssign
ResourceStridedSliceAssign
"""),
    "parsing": _names("""
SerializeTensor DecodeRaw DecodePaddedRaw DecodeCSV DecodeJSONExample DecodeCompressed
DecodeProtoV2 EncodeProto
"""),
    "quantization": _names("CustomAggregator CalibrationStatisticsSaver QuantizedResizeBilinear"),
    "debug": _names("CheckNumerics CheckNumericsV2 Print PrintV2 Timestamp DumpTensor Copy CopyHost"),
    "random": _names("""
Multinomial ParameterizedTruncatedNormal TruncatedNormal NonDeterministicInts
SampleDistortedBoundingBox SampleDistortedBoundingBoxV2 StochasticCastToInt SobolSample
"""),
    "io": _names("""
ReadFile WriteFile MatchingFiles Save SaveV2 SaveSlices Restore RestoreV2 RestoreSlice
MergeV2Checkpoints ShardedFilename ShardedFilespec FileSystemSetConfiguration Send Recv
DeleteRpcFutureResource ImmutableConst
"""),
    "training": _names("""
NegTrain Skipgram GenerateVocabRemapping LoadAndRemapMatrix KMC2ChainInitialization
KmeansPlusPlusInitialization NearestNeighbors ComputeAccidentalHits
Stack StackV2 StackPush StackPushV2 StackPop StackPopV2 StackClose StackCloseV2
"""),
    "queue": _names("RecordInput GetSessionHandle GetSessionHandleV2 GetSessionTensor "
                    "DeleteSessionTensor"),
    "dataset": _names("""
WindowOp CompressElement UncompressElement GetElementAtIndex DummyIterationCounter
AnonymousMemoryCache DummyMemoryCache DeleteMemoryCache AnonymousSeedGenerator
AnonymousRandomSeedGenerator DummySeedGenerator DeleteRandomSeedGenerator DeleteSeedGenerator
MapDefun GetOptions DistributedSave ComputeBatchSize ThreadPoolHandle
ExperimentalThreadPoolHandle StatsAggregatorHandle StatsAggregatorHandleV2
ExperimentalStatsAggregatorHandle StatsAggregatorSummary StatsAggregatorSetSummaryWriter
ExperimentalStatsAggregatorSummary
"""),
    "summary": _names("SummaryWriter ImportEvent"),
    "tpu": _names("""
ComputeDedupDataSize ComputeDedupDataSizeV2 ComputeDedupDataTupleMask ComputeDedupDataTupleMaskV2
MergeDedupData SplitDedupData KthOrderStatistic MakeUnique TopKUnique TopKWithUnique
WorkerHeartbeat ConvertToCooTensor GlobalIterId StoreMinibatchStatisticsInFdo
UpdateTaskIdAndGlobalCoreArray
"""),
    "xla": _names("MlirPassthroughOp ReadVariableXlaSplitND AssignVariableXlaConcatND"),
    "collective": _names("AllToAll CrossReplicaSum CopyToMesh CopyToMeshGrad Relayout RelayoutLike"),
}

# Name patterns, tried in this order after the exact names.
_RULES = (
    _Rule("internal", prefixes=("_",)),
    _Rule("tpu", contains=("TPU", "Tpu", "SparseCore", "Minibatch"),
          prefixes=("Infeed", "Outfeed", "Prelinearize", "XlaSparse")),
    _Rule("xla", prefixes=("Xla",)),
    _Rule("collective", prefixes=("Collective", "Nccl", "DTensor")),
    _Rule("risc", prefixes=("Risc",)),
    _Rule("dataset", contains=("Dataset", "Iterator"), prefixes=("Optional",)),
    _Rule("boosted_trees", prefixes=("BoostedTrees", "IsBoostedTrees")),
    _Rule("debug", prefixes=("Debug",)),
    _Rule("summary", contains=("Summary",)),
    _Rule("training", prefixes=("Apply", "ResourceApply", "SparseApply", "ResourceSparseApply",
                                "Sdca"),
          contains=("Accumulator", "CandidateSampler")),
    _Rule("queue", contains=("Queue",), prefixes=("Barrier", "Stage", "Unstage", "Map",
                                                  "OrderedMap", "Stack")),
    _Rule("io", contains=("Reader",), prefixes=("Rpc",)),
    _Rule("random", prefixes=("Random", "StatefulRandom", "StatefulStandardNormal",
                              "StatefulTruncatedNormal", "StatefulUniform", "StatelessRandom",
                              "StatelessMultinomial", "StatelessParameterizedTruncatedNormal",
                              "StatelessTruncatedNormal", "StatelessShuffle",
                              "StatelessSampleDistortedBoundingBox", "Rng")),
    _Rule("lookup", contains=("HashTable",), prefixes=("LookupTable", "InitializeTable")),
    _Rule("tensorlist", prefixes=("TensorList", "TensorArray", "TensorMap", "EmptyTensor")),
    _Rule("resource", prefixes=("ResourceScatter", "ResourceGather", "Scatter")),
    _Rule("parsing", prefixes=("Parse",)),
    _Rule("quantization", prefixes=("Quantize", "Dequantize", "Requantiz", "FakeQuant",
                                    "UniformQuantize", "UniformDequantize", "UniformRequantize")),
    _Rule("image", prefixes=("Resize", "Adjust", "NonMaxSuppression", "DrawBoundingBoxes",
                             "ExtractGlimpse", "ImageProjectiveTransform", "CropAndResize",
                             "ScaleAndTranslate")),
    _Rule("signal", contains=("FFT",)),
    _Rule("strings", prefixes=("String", "Regex", "StaticRegex", "Unicode", "Substr")),
    _Rule("ragged", prefixes=("Ragged",)),
    _Rule("segment", prefixes=("Segment", "UnsortedSegment", "SparseSegment")),
    _Rule("sparse", prefixes=("Sparse", "CSRSparseMatrix")),
    _Rule("linalg", prefixes=("Matrix", "BatchMatrix", "BatchCholesky", "BatchSelfAdjointEig",
                              "BatchSvd", "SelfAdjointEig", "Tridiagonal")),
    _Rule("nn", prefixes=("Conv", "DepthwiseConv", "AvgPool", "MaxPool", "FractionalAvgPool",
                          "FractionalMaxPool", "FusedBatchNorm", "BatchNormWithGlobal", "Relu",
                          "Elu", "Selu", "LeakyRelu", "Softplus", "Softsign", "Softmax",
                          "LogSoftmax", "BiasAdd", "Dilation2D", "CTC", "DataFormat", "Fused",
                          "Cudnn", "BlockLSTM", "LSTMBlockCell", "GRUBlockCell")),
    _Rule("math", prefixes=("Bessel", "Bitwise")),
    _Rule("array", prefixes=("Reverse", "Unique", "Split", "Concat", "Pad", "MirrorPad",
                             "SpaceTo", "BatchToSpace", "DepthToSpace", "Gather", "Inplace",
                             "TensorScatter", "TensorStridedSliceUpdate", "StridedSlice",
                             "BroadcastTo", "Pack", "Unpack")),
)

_BY_NAME = {op: fam for fam, ops in _EXACT.items() for op in ops}


def family(op: str) -> str | None:
    """The family of a TensorFlow op (None for a name no rule knows, e.g. a custom op)."""
    fam = _BY_NAME.get(op)
    if fam is not None:
        return fam
    for rule in _RULES:
        if rule.matches(op):
            return rule.family
    return None


# -- the runtime's universe ------------------------------------------------------------

# Whole families outside the universe, and why.
_EXCLUDED_FAMILIES = {
    "test": "registered by TensorFlow for its own unit tests",
    "internal": "made by TensorFlow's graph rewrites and executor while running; never saved",
    "tpu": "needs TPU hardware or the TPU runtime",
    "xla": "runs only inside XLA's compiler",
    "collective": "multi-device / multi-host communication",
    "risc": "experimental op set that TensorFlow's Python APIs do not emit",
    "dataset": "tf.data input pipelines: they feed a model, they are not its computation",
    "summary": "writes TensorBoard summaries",
    "queue": "TF1 input queues, staging areas and session handles (input pipelines)",
    "io": "reads or writes files or the network (the loader reads checkpoints itself)",
    "training": "training only: optimizer updates, accumulators, samplers, warm-starting, "
                "the stacks that keep forward values for TF1 while-loop gradients",
    "boosted_trees": "tf.estimator boosted trees (tf.estimator left TensorFlow in 2.16)",
    "random": "random and quasi-random sampling, which inference does not use (the random "
              "ops variable initializers run are handled with them)",
}

_GRADIENT = "gradient computation (training only)"

# Single ops outside the universe, and why.
_EXCLUDED_OPS = {
    **dict.fromkeys(_names("PyFunc PyFuncStateless EagerPyFunc"),
                    "calls a Python function of the process that built the graph; the "
                    "function is not saved with the model"),
    **dict.fromkeys(_names("RemoteCall"), "runs a function on another device or task"),
    **dict.fromkeys(_names("DebugIdentity DebugIdentityV2 DebugIdentityV3 DebugNanCount "
                           "DebugNumericSummary DebugNumericSummaryV2 DebugGradientIdentity "
                           "DebugGradientRefIdentity DumpTensor Copy CopyHost"),
                    "debugger instrumentation inserted while a graph runs under tfdbg"),
    **dict.fromkeys(_names("BroadcastGradientArgs IgammaGradA"), _GRADIENT),
    **dict.fromkeys(_names("CustomAggregator CalibrationStatisticsSaver"),
                    "calibration statistics for TensorFlow's quantization converter"),
    **dict.fromkeys(_names("CheckPinned SyncDevice"),
                    "GPU only: checks or waits for GPU memory (on CPU TensorFlow fails CheckPinned "
                    "and registers no SyncDevice kernel)"),
    **dict.fromkeys(_names("CTCLossV2"), "GPU only: TensorFlow registers no CPU kernel for it (cuDNN)"),
    **dict.fromkeys(_names("QuantizedReluX"), "TensorFlow registers no kernel for it on any device"),
    **dict.fromkeys(_names("QuantizedConv2DWithBiasSumAndRelu "
                           "QuantizedConv2DWithBiasSumAndReluAndRequantize "
                           "QuantizedConv2DWithBiasSignedSumAndReluAndRequantize"),
                    "TensorFlow 2.21 cannot run it: its oneDNN kernel crashes the process "
                    "(segmentation fault), with oneDNN on or off"),
    **dict.fromkeys(_names("FractionalAvgPool FractionalMaxPool"),
                    "pools over randomly drawn regions (a training-time regulariser; the regions "
                    "come from TensorFlow's own generator)"),
    # tensorflow/core/kernels/image/generate_box_proposals_op.cu.cc is its only kernel.
    **dict.fromkeys(_names("GenerateBoundingBoxProposals"),
                    "GPU only: TensorFlow registers no CPU kernel for it"),
}

# Name endings of gradient ops (ReluGrad, MaxPoolGradGradV2, Conv2DBackpropFilter...);
# Conv2DBackpropInput stays: it is how transposed convolutions are saved.
_GRADIENT_ENDINGS = ("Grad", "GradV2", "GradV3", "GradGrad", "GradGradV2", "GradWithArgmax",
                     "GradGradWithArgmax", "GradBoxes", "GradImage", "Gradient", "GradWithShape",
                     "BackpropFilter", "BackpropFilterV2", "Backprop", "BackpropV2",
                     "BackpropV3", "GradEx")
_NOT_GRADIENTS = frozenset(_names("StopGradient PreventGradient"))

# TensorFlow refuses an op in graphs from its deprecation version on
# (tensorflow/tensorflow tensorflow/core/framework/op_def_util.cc, CheckOpDeprecation);
# version 21 is TensorFlow 1.0's GraphDef version, older than any SavedModel in use.
_OLDEST_GRAPH_VERSION = 21


def excluded(op: str) -> str | None:
    """Why ``op`` is outside the runtime's universe, or None when it is inside."""
    fam = family(op)
    if fam in _EXCLUDED_FAMILIES:
        return _EXCLUDED_FAMILIES[fam]
    reason = _EXCLUDED_OPS.get(op)
    if reason is not None:
        return reason
    if op.endswith(_GRADIENT_ENDINGS) and op not in _NOT_GRADIENTS:
        return _GRADIENT
    if op.startswith("Cudnn"):
        return "GPU only: TensorFlow registers no CPU kernel for it (cuDNN)"
    od = opdefs.get(op)
    if od is not None and od.deprecated_at is not None and \
            od.deprecated_at <= _OLDEST_GRAPH_VERSION:
        return f"removed in GraphDef version {od.deprecated_at}, before TensorFlow 1.0"
    return None


def universe() -> list[str]:
    """The registered ops the numpy runtime means to cover, sorted."""
    return [op for op in opdefs.names() if excluded(op) is None]


# -- custom ops (not registered by TensorFlow) ------------------------------------------

# Name prefixes of the libraries that register ops outside TensorFlow, and tensorflow-text's
# unprefixed op names (tensorflow/text tensorflow_text/core/ops/*.cc;
# tensorflow/addons registers every op as "Addons>...").
_CUSTOM_PREFIXES = {"TFText>": "tensorflow-text", "Addons>": "tensorflow-addons"}
_TF_TEXT = frozenset(_names("""
CaseFoldUTF8 ConstrainedSequence FindSourceOffsets MaxSpanningTree NormalizeUTF8
NormalizeUTF8WithOffsetsMap RegexSplitWithOffsets RougeL SentenceFragments
SentencepieceDetokenizeOp SentencepieceIdToStringOp SentencepieceOp SentencepieceStringToIdOp
SentencepieceTokenizeOp SentencepieceTokenizeWithOffsetsOp SentencepieceVocabSizeOp
SplitMergeTokenizeWithOffsets TokenizerFromLogits UnicodeScriptTokenizeWithOffsets
WhitespaceTokenizeWithOffsets WordpieceTokenizeWithOffsets
"""))


def custom_op_library(op: str) -> str | None:
    """The library outside TensorFlow known to register ``op`` (e.g. "tensorflow-text"), or None."""
    for prefix, library in _CUSTOM_PREFIXES.items():
        if op.startswith(prefix):
            return library
    return "tensorflow-text" if op in _TF_TEXT else None


def custom_op_note(op: str) -> str | None:
    """How to name an op TensorFlow does not register, in messages (None for a registered op)."""
    if opdefs.is_registered(op):
        return None
    library = custom_op_library(op)
    if library is not None:
        return f"custom op from {library}, not part of TensorFlow"
    return "custom op (not part of TensorFlow)"
