// Where an output may go: never where it would overwrite what the merge reads.
#pragma once

#include <string>
#include <vector>

namespace mf {

// Refuses (Error(ErrorCode::Io), naming both paths) an output directory that is, contains or lies
// inside one of `input_dirs` (input models, tokenizer sources): publishing it would replace or
// delete an input. Paths are compared canonical, symbolic links resolved; an output that does not
// exist yet is placed by its nearest existing ancestor. Inputs that are not existing directories
// are skipped. Call it before anything is written.
void check_output_apart_from_inputs(const std::string& out_dir,
                                    const std::vector<std::string>& input_dirs);

}  // namespace mf
