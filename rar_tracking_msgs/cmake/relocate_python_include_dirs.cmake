# The ROS 2 wheels on PyPI ship CMake export files of the
# <pkg>__rosidl_generator_py targets whose INTERFACE_INCLUDE_DIRECTORIES name
# the Python and NumPy header folders of the machine that built the wheels
# (/opt/python/cp311-cp311/...). CMake's generate step rejects imported targets
# that name a missing folder. Here every such missing folder is replaced by the
# matching folder of the Python found for this build; existing folders (a normal
# /opt/ros installation) are left untouched, so this is a no-op on a robot.
function(rar_relocate_python_include_dirs)
  if(NOT Python3_INCLUDE_DIRS)
    find_package(Python3 REQUIRED COMPONENTS Interpreter Development.Module NumPy)
  endif()
  get_property(_targets DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}" PROPERTY IMPORTED_TARGETS)
  foreach(_target IN LISTS _targets)
    get_target_property(_dirs ${_target} INTERFACE_INCLUDE_DIRECTORIES)
    if(NOT _dirs)
      continue()
    endif()
    set(_fixed "")
    set(_changed FALSE)
    foreach(_dir IN LISTS _dirs)
      if(_dir MATCHES "^\\$<" OR EXISTS "${_dir}")
        list(APPEND _fixed "${_dir}")
      elseif(_dir MATCHES "numpy")
        list(APPEND _fixed ${Python3_NumPy_INCLUDE_DIRS})
        set(_changed TRUE)
      elseif(_dir MATCHES "include/python3")
        list(APPEND _fixed ${Python3_INCLUDE_DIRS})
        set(_changed TRUE)
      else()
        message(STATUS "${_target}: dropping missing include folder ${_dir}")
        set(_changed TRUE)
      endif()
    endforeach()
    if(_changed)
      list(REMOVE_DUPLICATES _fixed)
      set_target_properties(${_target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_fixed}")
    endif()
  endforeach()
endfunction()
